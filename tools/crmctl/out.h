/*
 * out.h - crmctl's output: JSON documents, aligned tables, flattened
 * key/value listings and one-line summaries of event bodies.
 *
 * Everything goes to stdout; diagnostics go through ctl.h to stderr.
 */
#ifndef CRMCTL_OUT_H
#define CRMCTL_OUT_H

#include <jansson.h>
#include <msgpack.h>
#include <stddef.h>

/* Prints j as one line of compact JSON and flushes (so a follower's
 * reader sees each line at once). Takes ownership of j; NULL means the
 * conversion ran out of memory. Returns 0 or the reported exit status. */
int ctl_out_json(json_t *j);

/* Converts a result and prints it as by ctl_out_json. */
int ctl_out_mp_json(const msgpack_object *o);

/* Whether stdout gets colour: CLICOLOR_FORCE (not "0") says yes, else
 * NO_COLOR says no, else only a terminal whose TERM is not "dumb". */
int ctl_out_colour(void);
/* Prints s and a newline, bold where there is colour. */
void ctl_out_heading(const char *s);
/* The terminal cells UTF-8 text s takes (wide CJK characters two,
 * combining marks none), what tables align by. */
int ctl_out_width(const char *s);

/* An aligned table. Rows are kept and printed by ctl_table_close with each
 * column as wide as its widest cell; a streaming table prints the header
 * at once and every row as it comes, with the widths given (follow mode,
 * where the widest cell is not known yet). Columns align by terminal
 * cells (ctl_out_width); the header row is bold where there is colour. */
typedef struct ctl_table ctl_table;

/* headers and widths (NULL: header lengths) have ncols entries; the
 * header strings must outlive the table, the arrays need not. Returns
 * NULL when out of memory. */
ctl_table *ctl_table_open(size_t ncols, const char *const *headers,
                          const int *widths, int stream);
/* Adds a row of ncols cells (copied). Returns 0 or -1 (out of memory). */
int ctl_table_row(ctl_table *t, const char *const *cells);
/* Prints what is pending and frees t. Accepts NULL. */
void ctl_table_close(ctl_table *t);

/* Writes "k=v k=v ..." for a body map and then for the personal fields
 * (pii, a map or nil) into buf, cut at len - 1 with "...". The server sends
 * personal fields only to the roles that may see them, so what it sent is
 * shown; redacted (the event's pii_redacted) ends the summary in
 * "pii:redacted" instead. */
void ctl_out_summary(const msgpack_object *body, const msgpack_object *pii,
                     int redacted, char *buf, size_t len);

/* Prints a map as "dotted.key  value" lines, nested maps flattened, so
 * that fields the server adds later show up without a change here. */
void ctl_out_kv(const msgpack_object *m);

/* Prints a view (customer get, loyalty get): its scalars and maps as by
 * ctl_out_kv, then each list of maps as a table under its name, with the
 * first entry's keys as the columns. */
void ctl_out_view(const msgpack_object *m);

#endif
