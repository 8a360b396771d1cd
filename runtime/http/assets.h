/*
 * runtime/http/assets.h - the dashboard's files, compiled into the binary
 * (embed_assets.py writes the table at build time from runtime/http/assets/),
 * so the dashboard works offline and cannot drift from the server.
 */
#ifndef TAAS_HTTP_ASSETS_H
#define TAAS_HTTP_ASSETS_H

#include <stddef.h>

struct taas_http_asset_file {
    const char *path; /* "/", "/app.js", ... */
    const char *ctype;
    const unsigned char *data;
    size_t len;
};

/* The file served at `url`, or NULL. */
const struct taas_http_asset_file *taas_http_asset(const char *url);

#endif
