/* err.c - names and messages of crm_err, generated from CRM_ERR_MAP. */
#include "err.h"
#include "utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    crm_err code;
    const char *name;
    const char *msg;
} err_table[] = {
#define CRM_ERR_ROW(e, n, name, msg) {e, name, msg},
    CRM_ERR_MAP(CRM_ERR_ROW)
#undef CRM_ERR_ROW
};

#define NERR (sizeof(err_table) / sizeof(err_table[0]))

const char *
crm_err_name(crm_err err)
{
    for (size_t i = 0; i < NERR; i++)
        if (err_table[i].code == err)
            return err_table[i].name;
    return "unknown";
}

const char *
crm_strerror(crm_err err)
{
    for (size_t i = 0; i < NERR; i++)
        if (err_table[i].code == err)
            return err_table[i].msg;
    return "unknown error";
}

crm_err
crm_err_from_name(const char *name)
{
    for (size_t i = 0; i < NERR; i++)
        if (strcmp(err_table[i].name, name) == 0)
            return err_table[i].code;
    return CRM_ERR_INTERNAL;
}

crm_err
crm_error_set(crm_error *e, crm_err code, const char *fmt, ...)
{
    if (e == NULL)
        return code;
    e->code = code;
    if (fmt == NULL || fmt[0] == '\0') {
        snprintf(e->msg, sizeof(e->msg), "%s", crm_strerror(code));
        return code;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    /* a message goes into a msgpack str: whatever a caller quoted, or
     * where vsnprintf cut it, it stays valid UTF-8 */
    crm_utf8_scrub(e->msg);
    return code;
}

void
crm_error_prefix(crm_error *e, const char *fmt, ...)
{
    if (e == NULL)
        return;
    char pre[sizeof(e->msg)], old[sizeof(e->msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof(pre), fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof(old));
    /* Both parts matter: the message keeps at least half the room it
     * needs, the prefix gets the rest. */
    size_t cap = sizeof(e->msg) - 1, olen = strnlen(old, sizeof(old));
    size_t keep = olen < cap / 2 ? olen : cap / 2;
    size_t n = strlen(pre);
    if (n > cap - 2 - keep)
        n = cap - 2 - keep;
    memcpy(e->msg, pre, n);
    memcpy(e->msg + n, ": ", 2);
    size_t rest = cap - n - 2;
    if (olen > rest)
        olen = rest;
    memcpy(e->msg + n + 2, old, olen);
    e->msg[n + 2 + olen] = '\0';
    crm_utf8_scrub(e->msg);
}
