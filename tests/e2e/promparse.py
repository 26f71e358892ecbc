# Parses a Prometheus text exposition (stdin) with the Prometheus client
# library's own parser and prints one "name{labels} value" line per sample,
# labels sorted, so that the shell tests can grep exact series.  Exits 1 on
# a parse error.  Run with Debian's /usr/bin/python3 (python3-prometheus-client).
import sys

from prometheus_client.parser import text_string_to_metric_families

try:
    families = list(text_string_to_metric_families(sys.stdin.read()))
except Exception as e:  # the parser raises ValueError and others
    print("parse error: %s" % e, file=sys.stderr)
    sys.exit(1)
for f in families:
    for s in f.samples:
        labels = ",".join('%s="%s"' % (k, v) for k, v in sorted(s.labels.items()))
        print("%s{%s} %s %s" % (s.name, labels, repr(s.value), f.type))
