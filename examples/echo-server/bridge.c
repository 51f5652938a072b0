/* bridge: a host program, run as
 *
 *     berth join --ipc <client> --mount <server> -- ./bridge
 *
 * so that it lives in the client container's IPC namespace (it sees the client's message
 * queue) and in the server container's mount namespace (/shared is the server's). It receives
 * each line from the queue and writes it to /shared/message for the server, one message at a
 * time: it waits until the server has removed the previous file. It stops at MSG_END.
 *
 * Statically linked: after joining the server's mount namespace, a dynamic loader would be
 * looked up in the server's filesystem. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static int fail(const char *what) {
    fprintf(stderr, "bridge: %s: %s\n", what, strerror(errno));
    return 1;
}

/* Writes a complete file, then renames it into place: the server never sees half of it. */
static int deliver(const char *text, size_t len) {
    const struct timespec tick = {.tv_nsec = 10 * 1000 * 1000};
    while (access(MESSAGE_FILE, F_OK) == 0)
        nanosleep(&tick, NULL);
    int fd = open(MESSAGE_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return fail("create " MESSAGE_TMP);
    for (size_t off = 0; off < len;) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            close(fd);
            return fail("write " MESSAGE_TMP);
        }
        off += (size_t)n;
    }
    if (close(fd) < 0)
        return fail("close " MESSAGE_TMP);
    if (rename(MESSAGE_TMP, MESSAGE_FILE) < 0)
        return fail("rename to " MESSAGE_FILE);
    return 0;
}

int main(void) {
    int q = msgget(QUEUE_KEY, IPC_CREAT | 0600);
    if (q < 0)
        return fail("msgget");
    fprintf(stderr, "bridge: relaying queue 0x%x to %s\n", QUEUE_KEY, MESSAGE_FILE);
    for (;;) {
        struct line_msg m;
        ssize_t len = msgrcv(q, &m, sizeof m.mtext, 0, 0);
        if (len < 0) {
            if (errno == EINTR)
                continue;
            return fail("msgrcv");
        }
        if (m.mtype == MSG_END) {
            fprintf(stderr, "bridge: client finished\n");
            return 0;
        }
        if (deliver(m.mtext, (size_t)len))
            return 1;
    }
}
