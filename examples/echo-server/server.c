/* server: runs in the server container. Blocks until /shared/message appears (inotify on
 * /shared), prints "echo: <message>" on stdout, then removes the file so the bridge can send
 * the next one. It never exits on its own: stop it with `berth kill`. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "common.h"

static void die(const char *what) {
    fprintf(stderr, "server: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* Reads and echoes the message if it is there; returns 0 when there is none yet. */
static int echo_message(void) {
    char buf[LINE_MAX_LEN + 1];
    int fd = open(MESSAGE_FILE, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        die("open " MESSAGE_FILE);
    }
    size_t len = 0;
    ssize_t n;
    while (len < LINE_MAX_LEN && (n = read(fd, buf + len, LINE_MAX_LEN - len)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("read " MESSAGE_FILE);
        }
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    printf("echo: %s\n", buf);
    fflush(stdout);
    /* Only after the echo is out: the bridge waits for the file to go before the next one. */
    if (unlink(MESSAGE_FILE) < 0)
        die("unlink " MESSAGE_FILE);
    return 1;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    int ino = inotify_init1(IN_CLOEXEC);
    if (ino < 0)
        die("inotify_init1");
    /* The watch comes before the first look, so a message that arrives in between still
     * wakes the read below. The bridge renames the file into place: IN_MOVED_TO. */
    if (inotify_add_watch(ino, SHARED_DIR, IN_MOVED_TO | IN_CLOSE_WRITE) < 0)
        die("watch " SHARED_DIR);
    printf("server: waiting for messages in %s\n", MESSAGE_FILE);
    char events[4096];
    for (;;) {
        while (echo_message())
            ;
        if (read(ino, events, sizeof events) < 0 && errno != EINTR)
            die("read inotify events");
    }
}
