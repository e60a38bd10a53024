/*
 * lmdemo: a licensed C program, written against FLEXlm's FLEXible API.
 *
 *   cc -DLM_DEMO_VENDOR lmdemo.c $(pkg-config --cflags --libs lmclient)
 *   LM_LICENSE_FILE=27000@localhost ./lmdemo f1 30
 *
 * Checks FEATURE out, shows what the publisher wrote on its line, holds
 * it for SECONDS (0: until a line is read on standard input; the library
 * reconnects if the license server restarts, and the callbacks say so),
 * then checks it in. A denial prints FLEXlm's message
 * and exits with status 1.
 *
 * A real application includes the key header `lmutil lmcrypt -kit` made
 * for its publisher instead of defining LM_DEMO_VENDOR.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "lmclient.h"

static int reconnecting(const char *feature, int pass, int total, int interval)
{
    printf("reconnecting %s: attempt %d of %d, every %d s\n", feature, pass, total, interval);
    fflush(stdout);
    return 0;
}

static int reconnected(const char *feature, int tries, int total, int interval)
{
    (void)total;
    (void)interval;
    printf("reconnected %s after %d tries\n", feature, tries);
    fflush(stdout);
    return 0;
}

static int lost(const char *feature)
{
    printf("lost %s\n", feature);
    fflush(stdout);
    return 0;
}

static const char *or_none(const char *s)
{
    return s ? s : "(none)";
}

int main(int argc, char **argv)
{
    const char *feature = argc > 1 ? argv[1] : "f1";
    int seconds = argc > 2 ? atoi(argv[2]) : 10;
    VENDORCODE code;
    LM_HANDLE *job;

    if (lc_new_job(0, 0, &code, &job) != 0) {
        fprintf(stderr, "lc_new_job failed\n");
        return 2;
    }
    lc_set_attr(job, LM_A_RETRY_INTERVAL, (LM_A_VAL_TYPE)1);
    lc_set_attr(job, LM_A_USER_RECONNECT, (LM_A_VAL_TYPE)reconnecting);
    lc_set_attr(job, LM_A_USER_RECONNECT_DONE, (LM_A_VAL_TYPE)reconnected);
    lc_set_attr(job, LM_A_USER_EXITCALL, (LM_A_VAL_TYPE)lost);

    if (lc_checkout(job, feature, "1.0", 1, LM_CO_NOWAIT, &code, LM_DUP_NONE) != 0) {
        lc_perror(job, "checkout failed");
        lc_free_job(job);
        return 1;
    }
    const CONFIG *conf = lc_auth_data(job, feature);
    printf("checked out %s %s, expires in %d days\n", lm_conf_feature(conf),
           lm_conf_version(conf), lc_expire_days(job, conf));
    printf("NOTICE: %s\nVENDOR_STRING: %s\n", or_none(lm_conf_notice(conf)),
           or_none(lm_conf_vendor_string(conf)));
    fflush(stdout);

    if (seconds == 0) {
        char line[16];
        printf("holding %s; press Enter to check it in\n", feature);
        fflush(stdout);
        /* Heartbeats and reconnects run on the library's own thread. */
        if (!fgets(line, sizeof line, stdin))
            line[0] = 0;
    }
    for (int i = 0; i < seconds * 10; i++) {
        int reconnects = 0;
        int failed = lc_heartbeat(job, &reconnects, 10);
        if (failed > 0 && i % 10 == 0) {
            printf("server unreachable: %d failed attempts\n", failed);
            fflush(stdout);
        }
        usleep(100 * 1000);
    }
    lc_checkin(job, feature, 0);
    printf("checked in %s\n", feature);
    lc_free_job(job);
    return 0;
}
