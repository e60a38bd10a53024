/*
 * A FLEXible API test program driven line by line on standard input, so
 * that the end-to-end tests can interleave its calls with what they do to
 * the servers. Each command prints one line.
 *
 *   attr NAME N        lc_set_attr with an integer (retry_interval,
 *                      retry_count, grace)
 *   checkout F N FLAG  lc_checkout of N licenses of F, version 1.0;
 *                      FLAG: nowait, wait or queue -> "status S"
 *   status F           lc_status -> "status S"
 *   checkin F|all      lc_checkin -> "status S"
 *   heartbeat          lc_heartbeat -> "heartbeat FAILED RECONNECTS"
 *   errstring          the first line of lc_errstring, then its numbers line
 *   warning            lc_warning -> "warning TEXT" or "warning -"
 *   terms F            VENDOR_STRING, NOTICE, expiry days of F
 *   cycle N F          N checkouts and checkins of F (for the leak check)
 *   quit               lc_free_job, then exit
 * Callbacks print "callback reconnect F P", "callback done F T" and
 * "callback lost F".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lmclient.h"

static int on_reconnect(const char *f, int pass, int total, int interval)
{
    (void)total;
    (void)interval;
    printf("callback reconnect %s %d\n", f, pass);
    fflush(stdout);
    return 0;
}

static int on_done(const char *f, int tries, int total, int interval)
{
    (void)total;
    (void)interval;
    printf("callback done %s %d\n", f, tries);
    fflush(stdout);
    return 0;
}

static int on_lost(const char *f)
{
    printf("callback lost %s\n", f);
    fflush(stdout);
    return 0;
}

static int flag_of(const char *s)
{
    if (strcmp(s, "wait") == 0)
        return LM_CO_WAIT;
    if (strcmp(s, "queue") == 0)
        return LM_CO_QUEUE;
    return LM_CO_NOWAIT;
}

static int attr_of(const char *s)
{
    if (strcmp(s, "retry_interval") == 0)
        return LM_A_RETRY_INTERVAL;
    if (strcmp(s, "retry_count") == 0)
        return LM_A_RETRY_COUNT;
    if (strcmp(s, "grace") == 0)
        return LM_A_GRACE_PERIOD;
    return -1;
}

int main(void)
{
    VENDORCODE code;
    LM_HANDLE *job;
    char line[512], a[128], b[128], c[128];
    int n;

    if (lc_new_job(0, 0, &code, &job) != 0) {
        printf("new_job failed\n");
        return 2;
    }
    lc_set_attr(job, LM_A_USER_RECONNECT, (LM_A_VAL_TYPE)on_reconnect);
    lc_set_attr(job, LM_A_USER_RECONNECT_DONE, (LM_A_VAL_TYPE)on_done);
    lc_set_attr(job, LM_A_USER_EXITCALL, (LM_A_VAL_TYPE)on_lost);
    printf("ready\n");
    fflush(stdout);
    while (fgets(line, sizeof line, stdin)) {
        if (sscanf(line, "attr %127s %d", a, &n) == 2) {
            printf("status %d\n", lc_set_attr(job, attr_of(a), (LM_A_VAL_TYPE)(long)n));
        } else if (sscanf(line, "checkout %127s %d %127s", a, &n, b) == 3) {
            printf("status %d\n", lc_checkout(job, a, "1.0", n, flag_of(b), &code, LM_DUP_NONE));
        } else if (sscanf(line, "status %127s", a) == 1) {
            printf("status %d\n", lc_status(job, a));
        } else if (sscanf(line, "checkin %127s", a) == 1) {
            const char *f = strcmp(a, "all") == 0 ? LM_CI_ALL_FEATURES : a;
            printf("status %d\n", lc_checkin(job, f, 0));
        } else if (strncmp(line, "heartbeat", 9) == 0) {
            int reconnects = -1;
            int failed = lc_heartbeat(job, &reconnects, 10);
            printf("heartbeat %d %d\n", failed, reconnects);
        } else if (strncmp(line, "errstring", 9) == 0) {
            const char *s = lc_errstring(job);
            const char *nl = strchr(s, '\n');
            const char *numbers = strstr(s, "FlexNet Licensing error:");
            printf("errno %d text %.*s | %s\n", lc_get_errno(job),
                   nl ? (int)(nl - s) : (int)strlen(s), s, numbers ? numbers : "");
        } else if (strncmp(line, "warning", 7) == 0) {
            const char *w = lc_warning(job);
            printf("warning %s\n", w ? w : "-");
        } else if (sscanf(line, "terms %127s", a) == 1) {
            const CONFIG *conf = lc_auth_data(job, a);
            const char *vs = lm_conf_vendor_string(conf);
            const char *notice = lm_conf_notice(conf);
            printf("terms vendor_string=%s notice=%s days=%d\n", vs ? vs : "-",
                   notice ? notice : "-", lc_expire_days(job, conf));
        } else if (sscanf(line, "cycle %d %127s", &n, a) == 2) {
            int bad = 0;
            for (int i = 0; i < n; i++) {
                if (lc_checkout(job, a, "1.0", 1, LM_CO_NOWAIT, &code, LM_DUP_NONE) != 0)
                    bad++;
                (void)lc_errstring(job);
                lc_checkin(job, a, 0);
            }
            printf("cycled %d failed %d\n", n, bad);
        } else if (strncmp(line, "quit", 4) == 0) {
            break;
        } else {
            printf("unknown %s", line);
        }
        fflush(stdout);
        (void)c;
    }
    lc_free_job(job);
    printf("bye\n");
    return 0;
}
