/* httpd.h - the HTTP endpoint on the main thread's event_base: /metrics (Prometheus), /health and /stats (JSON). */
#ifndef LC_HTTPD_H
#define LC_HTTPD_H

#include <stddef.h>

#include "config.h"
#include "rcache.h"

struct event_base;
typedef struct httpd httpd;

/* Listen on cfg->http_bind:cfg->http_port (which must not be 0) with base's loop, which serves
 * every request on its own thread. rc may be NULL (no cache families). Returns NULL with err set. */
httpd *httpd_start(struct event_base *base, const config *cfg, rcache *rc, char *err, size_t errlen);
void   httpd_free(httpd *h);

#endif
