/* A container's file watcher for machine_e2e (the fixture busybox has no
 * inotifyd): watches argv[1] for writes, closes after writing and
 * attribute changes, says "watching" once ready, then one "event <mask>"
 * line per event. Built with `gcc -static` by the test. */
#include <stdio.h>
#include <sys/inotify.h>
#include <unistd.h>

int main(int argc, char **argv) {
    char buf[4096] __attribute__((aligned(8)));
    int fd = inotify_init1(0);
    if (argc != 2 || fd < 0 ||
        inotify_add_watch(fd, argv[1], IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE) < 0) {
        perror("inotify");
        return 1;
    }
    printf("watching\n");
    fflush(stdout);
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            return 1;
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *e = (struct inotify_event *)p;
            printf("event %x\n", e->mask);
            fflush(stdout);
            p += sizeof *e + e->len;
        }
    }
}
