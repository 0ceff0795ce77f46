/*
 * http.h: the HTTP server (an acceptor thread, worker threads each running a libmicrohttpd
 * daemon from its own epoll loop, keep-alive). The only code that includes <microhttpd.h> lives
 * in this directory.
 */
#ifndef MS_HTTP_HTTP_H
#define MS_HTTP_HTTP_H

#include "core/config.h"
#include "core/error.h"

struct ms_http;

/*
 * Bind cfg->listen_host:cfg->listen_port (0 = a free port) and start serving on
 * cfg->http_threads worker threads. cfg must outlive the server. Each worker opens its own store
 * handle (cfg->store_url) on first use.
 */
enum ms_status ms_http_start(const struct ms_config *cfg, struct ms_http **out,
                             struct ms_error *err);

/* The bound port (after ms_http_start). */
int ms_http_port(const struct ms_http *h);

/* Stop accepting, finish in-flight requests, join the threads, free. NULL is a no-op. */
void ms_http_stop(struct ms_http *h);

#endif
