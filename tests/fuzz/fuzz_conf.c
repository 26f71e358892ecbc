/*
 * fuzz_conf: conf_load (bridge/conf.c), the config file with every row of
 * the settings table, the endpoints, durations, CIDR ranges and librdkafka
 * properties it checks.  Input: the file's bytes, written to a file of its
 * own in a private directory, loaded, freed.  Properties: no crash, leak or
 * UB; a refusal says why; an accepted config has the invariants the rest of
 * the daemon relies on (a retry schedule, positive timeouts, workers and
 * in-flight limits within their bounds).  Inputs with "@include" are
 * skipped: an include reads other files, which are not part of the input.
 */
#include <stdio.h>
#include <unistd.h>

#include "conf.h"
#include "fuzz.h"

static char dir[64];
static char path[128];

static void remove_dir(void)
{
    unlink(path);
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char errstr[16384];
    struct conf *conf = NULL;

    if (memmem(data, size, "@include", 8) != NULL) {
        return 0;
    }
    if (dir[0] == '\0') {
        snprintf(dir, sizeof(dir), "/tmp/fuzz_conf.XXXXXX");
        FUZZ_CHECK(mkdtemp(dir) != NULL);
        snprintf(path, sizeof(path), "%s/bridge.conf", dir);
        atexit(remove_dir);
    }
    FILE *fp = fopen(path, "wb");
    FUZZ_CHECK(fp != NULL);
    FUZZ_CHECK(size == 0 || fwrite(data, 1, size, fp) == size);
    FUZZ_CHECK(fclose(fp) == 0);

    errstr[0] = '\0';
    if (conf_load(&conf, path, errstr, sizeof(errstr)) == 0) {
        FUZZ_CHECK(conf != NULL && conf->retry.n_schedule >= 1);
        FUZZ_CHECK(conf->delivery.workers >= 1 && conf->delivery.workers <= 64);
        FUZZ_CHECK(conf->delivery.max_in_flight >= 1);
        FUZZ_CHECK(conf->delivery.endpoint_max_in_flight >= 1 &&
                   conf->delivery.endpoint_max_in_flight <= conf->delivery.max_in_flight);
        FUZZ_CHECK(conf->delivery.timeout_ms > 0 && conf->retry.window_ms > 0);
        conf_destroy(conf);
    } else {
        FUZZ_CHECK(conf == NULL && errstr[0] != '\0');
    }
    unlink(path);
    return 0;
}
