// Helpers for tests of /metrics: a free port to serve it on, one plain HTTP
// GET, the samples of Prometheus's text format, and promtool's verdict.
//
// Thread safety: the functions may be called from any thread.
#ifndef PIECES_TESTS_TESTING_METRICS_SCRAPE_H_
#define PIECES_TESTS_TESTING_METRICS_SCRAPE_H_

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace pieces::testing {

// A TCP port nobody listened on a moment ago (the kernel's pick). Another
// program may take it before the caller does; tests start on it at once.
absl::StatusOr<int> FreeTcpPort();

// The body of GET http://127.0.0.1:`port``path` (HTTP/1.0), or why not
// (any status but 200 is an error).
absl::StatusOr<std::string> HttpGet(int port, const std::string& path);

// Every sample of a text-format page, by its series as written
// ("name{label=\"value\",...}" or "name"), e.g.
// samples["pieces_work_units_total{outcome=\"new\"}"].
std::map<std::string, double> ParseMetricsText(const std::string& text);

// The value of `series` in `samples`, or -1 when it is missing.
double SampleOr(const std::map<std::string, double>& samples,
                const std::string& series);

// Runs `promtool check metrics` on `text`: OK, or its complaints.
absl::Status PromtoolCheckMetrics(const std::string& text);

}  // namespace pieces::testing

#endif  // PIECES_TESTS_TESTING_METRICS_SCRAPE_H_
