// Linked into a test-only copy of work_service
// (work_service_with_planted_defect, never installed or shipped) to prove that
// the test harness sees what a service does wrong at its very end, after a
// test's last call:
//
//   --planted_defect=exit   exits with code 3 instead of 0
//   --planted_defect=leak   leaks 4096 bytes (LeakSanitizer reports it at exit)
//   --planted_defect=race   two threads write one int unsynchronized
//                           (ThreadSanitizer reports a data race)
//
// The defect is done by a static object's destructor, which runs after main()
// returns, that is, after the service drained and stopped.
#include <unistd.h>

#include <string>
#include <thread>

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, planted_defect, "",
          "For the harness's own tests: exit, leak or race at exit");

namespace {

int raced_on = 0;

class PlantedDefect {
 public:
  ~PlantedDefect() {
    const std::string defect = absl::GetFlag(FLAGS_planted_defect);
    if (defect == "exit") _exit(3);
    if (defect == "leak") {
      char* leaked = new char[4096];
      // Keeps the allocation from being optimized away; the pointer is lost.
      asm volatile("" : : "r"(leaked) : "memory");
    }
    if (defect == "race") {
      std::thread a([] { ++raced_on; });
      std::thread b([] { ++raced_on; });
      a.join();
      b.join();
    }
  }
};

PlantedDefect planted_defect;

}  // namespace
