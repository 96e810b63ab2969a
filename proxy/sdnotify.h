/* sdnotify.h - tells systemd how the service is doing (Type=notify) over $NOTIFY_SOCKET, without libsystemd. */
#ifndef LC_SDNOTIFY_H
#define LC_SDNOTIFY_H

/* Send one state ("READY=1", "RELOADING=1", "STOPPING=1", "STATUS=...") to the socket named by
 * $NOTIFY_SOCKET; nothing when it is unset (not started by systemd). Returns 1 sent, 0 not
 * asked, -1 failed (systemd then times the start out: worth a log line, not more). */
int sdnotify_send(const char *state);

#endif
