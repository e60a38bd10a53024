/*
 * A Simple API test program, written as a FLEXlm application would be
 * (lmpolicy.h, LPCODE, lp_* calls), driven line by line on standard input:
 *
 *   checkout POLICY F N   lp_checkout (POLICY: restrictive, queue, lenient,
 *                         failsafe, grace) -> "status S"
 *   heartbeat             lp_heartbeat -> "heartbeat FAILED RECONNECTS"
 *   errstring             first line and numbers line of lp_errstring
 *   warning               lp_warning -> "warning TEXT" or "warning -"
 *   checkin               lp_checkin -> "checked in"
 *   cycle N F             N lp_checkout/lp_checkin pairs (leak check)
 *   trivial F             CHECKOUT, ERRSTRING, CHECKIN -> "trivial S"
 *   quit
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lmpolicy.h"

static int policy_of(const char *s)
{
    if (strcmp(s, "queue") == 0)
        return LM_QUEUE;
    if (strcmp(s, "lenient") == 0)
        return LM_LENIENT;
    if (strcmp(s, "failsafe") == 0)
        return LM_FAILSAFE;
    if (strcmp(s, "grace") == 0)
        return LM_RESTRICTIVE | LM_GRACE_PERIOD | LM_MANUAL_HEARTBEAT;
    return LM_RESTRICTIVE | LM_MANUAL_HEARTBEAT;
}

int main(void)
{
    LP_HANDLE *lp = 0;
    char line[512], a[128], b[128];
    int n;

    printf("ready\n");
    fflush(stdout);
    while (fgets(line, sizeof line, stdin)) {
        if (sscanf(line, "grace %d", &n) == 1) {
            lp_set_grace_period(n);
            printf("ok\n");
        } else if (sscanf(line, "checkout %127s %127s %d", a, b, &n) == 3) {
            printf("status %d\n", lp_checkout(LPCODE, policy_of(a), b, "1.0", n, 0, &lp));
        } else if (strncmp(line, "heartbeat", 9) == 0) {
            int reconnects = -1;
            int failed = lp_heartbeat(lp, &reconnects, 10);
            printf("heartbeat %d %d\n", failed, reconnects);
        } else if (strncmp(line, "errstring", 9) == 0) {
            const char *s = lp_errstring(lp);
            const char *nl = strchr(s, '\n');
            const char *numbers = strstr(s, "FlexNet Licensing error:");
            printf("text %.*s | %s\n", nl ? (int)(nl - s) : (int)strlen(s), s,
                   numbers ? numbers : "");
        } else if (strncmp(line, "warning", 7) == 0) {
            const char *w = lp_warning(lp);
            const char *nl = w ? strchr(w, '\n') : 0;
            if (w)
                printf("warning %.*s\n", nl ? (int)(nl - w) : (int)strlen(w), w);
            else
                printf("warning -\n");
        } else if (strncmp(line, "checkin", 7) == 0) {
            lp_checkin(lp);
            lp = 0;
            printf("checked in\n");
        } else if (sscanf(line, "cycle %d %127s", &n, a) == 2) {
            int bad = 0;
            for (int i = 0; i < n; i++) {
                LP_HANDLE *h;
                if (lp_checkout(LPCODE, LM_RESTRICTIVE, a, "1.0", 1, 0, &h) != 0)
                    bad++;
                (void)lp_errstring(h);
                lp_checkin(h);
            }
            printf("cycled %d failed %d\n", n, bad);
        } else if (sscanf(line, "trivial %127s", a) == 1) {
            int status = CHECKOUT(LM_RESTRICTIVE, a, "1.0", 0);
            const char *s = ERRSTRING();
            printf("trivial %d %s\n", status, status == 0 ? "-" : (strchr(s, '\n') ? "text" : s));
            CHECKIN();
        } else if (strncmp(line, "quit", 4) == 0) {
            break;
        } else {
            printf("unknown %s", line);
        }
        fflush(stdout);
    }
    if (lp)
        lp_checkin(lp);
    printf("bye\n");
    return 0;
}
