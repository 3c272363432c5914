/* progress.c - the terminal progress bar of crm-audit. */
#include "progress.h"

#include <stdio.h>
#include <unistd.h>

#include "clock.h"

#define BAR_CELLS 30
#define REDRAW_NS 100000000LL /* 10 times a second at most */

void
crm_audit_progress_begin(crm_audit_progress *p, const char *label,
                         uint64_t total)
{
    p->on = isatty(STDERR_FILENO);
    p->label = label;
    p->total = total;
    p->start_ns = crm_mono_ns();
    p->last_ns = 0;
}

void
crm_audit_progress_update(crm_audit_progress *p, uint64_t done)
{
    if (!p->on)
        return;
    int64_t now = crm_mono_ns();
    if (p->last_ns && now - p->last_ns < REDRAW_NS)
        return;
    p->last_ns = now;
    if (done > p->total)
        done = p->total;
    double secs = (double)(now - p->start_ns) / 1e9;
    double rate = secs > 0 ? (double)done / secs : 0;
    int cells = p->total ? (int)(done * BAR_CELLS / p->total) : BAR_CELLS;
    char bar[BAR_CELLS + 1];
    for (int i = 0; i < BAR_CELLS; i++)
        bar[i] = i < cells ? '#' : '.';
    bar[BAR_CELLS] = '\0';
    char eta[32] = "--:--";
    if (rate > 0) {
        long left = (long)((double)(p->total - done) / rate + 0.5);
        snprintf(eta, sizeof(eta), "%ld:%02ld", left / 60, left % 60);
    }
    fprintf(stderr, "\r\033[K%s [%s] %3d%% %llu/%llu events %.0f events/s ETA %s",
            p->label, bar, p->total ? (int)(done * 100 / p->total) : 100,
            (unsigned long long)done, (unsigned long long)p->total, rate, eta);
    fflush(stderr);
}

void
crm_audit_progress_end(crm_audit_progress *p)
{
    if (p->on && p->last_ns) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
}
