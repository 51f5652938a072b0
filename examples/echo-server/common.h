/* What the client and the bridge agree on: the System V message queue and its messages. */
#ifndef ECHO_COMMON_H
#define ECHO_COMMON_H

/* A fixed key: ftok() would need a path, and the two sides see different filesystems. The
 * queue lives in the client container's IPC namespace, so the key cannot clash with the
 * host's queues. */
#define QUEUE_KEY 0x45434830 /* "ECH0" */

#define MSG_LINE 1 /* mtext holds one typed line, without its newline */
#define MSG_END 2  /* the client's stdin ended: the bridge stops */

#define LINE_MAX_LEN 1024

struct line_msg {
    long mtype;
    char mtext[LINE_MAX_LEN];
};

/* The file the bridge writes in the server container and the server waits for. */
#define SHARED_DIR "/shared"
#define MESSAGE_FILE SHARED_DIR "/message"
#define MESSAGE_TMP SHARED_DIR "/.message.tmp"

#endif
