/* ------------------------------------------------------------------
 * Which publisher's keys the application trusts, chosen when it is
 * built. Include your generated key header first (lmutil lmcrypt -kit
 * writes lm_vendor_key.h, defining LM_VENDOR_NAME, LM_VENDOR_PUBLIC_KEY
 * and LM_VENDOR_SEAL_KEY), or define LM_DEMO_VENDOR to build against the
 * demo publisher's license. There is no default key.
 * ------------------------------------------------------------------ */
#if defined(LM_DEMO_VENDOR)
#  undef LM_VENDOR_NAME
#  undef LM_VENDOR_PUBLIC_KEY
#  undef LM_VENDOR_SEAL_KEY
#  define LM_VENDOR_NAME "@DEMO_VENDOR@"
#  define LM_VENDOR_PUBLIC_KEY @DEMO_PUBLIC_KEY@
#  define LM_VENDOR_SEAL_KEY @DEMO_SEAL_KEY@
#elif !defined(LM_VENDOR_NAME) || !defined(LM_VENDOR_PUBLIC_KEY)
#  error "lmclient.h: no publisher key. Include the key header made by `lmutil lmcrypt -kit` (lm_vendor_key.h) before lmclient.h, or compile with -DLM_DEMO_VENDOR to use the demo publisher's key (demo licenses only). See docs/publisher-guide.md."
#endif
#ifndef LM_VENDOR_SEAL_KEY
#  define LM_VENDOR_SEAL_KEY 0
#endif
/* The three arguments that carry the publisher's keys into the library. */
#define LM_PUBLISHER_KEYS LM_VENDOR_NAME, LM_VENDOR_PUBLIC_KEY, LM_VENDOR_SEAL_KEY

/* FLEXlm's vendor-code argument of lp_checkout: the keys travel in
 * LM_PUBLISHER_KEYS instead, so its value is not used. */
#define LPCODE 0

/* Simple API: FLEXlm's call, with the built-in keys. */
#define lp_checkout(code, policy, feature, version, nlic, path, handle) \
  lm_lp_checkout(LM_PUBLISHER_KEYS, (policy), (feature), (version), (nlic), (path), (handle))

/* FLEXible API: FLEXlm's call, with the built-in keys. */
#define lc_new_job(prevjob, unused, code, job) \
  lm_lc_new_job(LM_PUBLISHER_KEYS, (prevjob), (code), (job))

/* lc_checkin of every feature the job holds. */
#define LM_CI_ALL_FEATURES ((const char *)0)

/* Trivial API: one feature at a time per process. */
#define CHECKOUT(policy, feature, version, path) \
  lm_trivial_checkout(LM_PUBLISHER_KEYS, (policy), (feature), (version), (path))
#define CHECKIN() lm_trivial_checkin()
#define ERRSTRING() lm_trivial_errstring()
#define PERROR(context) lm_trivial_perror(context)
#define WARNING() lm_trivial_warning()
#define PWARN(context) lm_trivial_pwarn(context)
#define HEARTBEAT() lm_trivial_heartbeat()

/* FLEXlm's error numbers (texts: lm_error_text, lc_errstring). */
@ERRORS@

#endif /* LMCLIENT_H */
