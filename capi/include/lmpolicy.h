/* lmpolicy.h: FLEXlm's header name for the Trivial and Simple APIs; all
 * of the client library is in lmclient.h. */
#include "lmclient.h"
