/* lm_attr.h: FLEXlm's header name for the LM_A_* attributes; they are in
 * lmclient.h. */
#include "lmclient.h"
