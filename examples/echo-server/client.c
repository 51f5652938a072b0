/* client: runs in the client container. Reads lines from stdin and sends each one over the
 * System V message queue QUEUE_KEY of its IPC namespace; at end of input it sends MSG_END so
 * the bridge stops, and exits. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>

#include "common.h"

static int send_msg(int q, long type, const char *text) {
    struct line_msg m = {.mtype = type};
    size_t len = strlen(text);
    memcpy(m.mtext, text, len);
    while (msgsnd(q, &m, len, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return 0;
}

int main(void) {
    int q = msgget(QUEUE_KEY, IPC_CREAT | 0600);
    if (q < 0) {
        fprintf(stderr, "client: msgget: %s\n", strerror(errno));
        return 1;
    }
    fprintf(stderr, "client: type lines; they go to queue 0x%x\n", QUEUE_KEY);
    char line[LINE_MAX_LEN];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = '\0';
        if (send_msg(q, MSG_LINE, line) < 0) {
            fprintf(stderr, "client: msgsnd: %s\n", strerror(errno));
            return 1;
        }
        fprintf(stderr, "client: sent %zu bytes\n", strlen(line));
    }
    if (send_msg(q, MSG_END, "") < 0) {
        fprintf(stderr, "client: msgsnd end: %s\n", strerror(errno));
        return 1;
    }
    fprintf(stderr, "client: end of input\n");
    return 0;
}
