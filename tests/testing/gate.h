// A gate for work_service's `--work=block:PATH` work function: units block
// until the gate opens, so that a test, not a guess at timing, decides when
// work ends.
//
//   ServiceProcess work;
//   Gate gate;  // Declared after the service: opened before it is stopped.
//   work = StartWorkServiceOrFail({gate.WorkFlag()});
//   ... units are running, and stay running ...
//   gate.Open();  // Every blocked unit finishes.
//
// The destructor opens the gate too, so that a test that fails half-way lets
// its service drain and exit. Thread safety: Open() may be called from any
// thread; the rest is for the owning thread.
#ifndef PIECES_TESTS_TESTING_GATE_H_
#define PIECES_TESTS_TESTING_GATE_H_

#include <string>

namespace pieces::testing {

class Gate {
 public:
  // A closed gate: a fresh path in the test's temporary directory.
  Gate();
  // Opens it. The file stays: a unit may not have polled it yet.
  ~Gate();

  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;

  // "--work=block:PATH".
  std::string WorkFlag() const { return "--work=block:" + path_; }
  // Lets every blocked unit, and every unit from now on, finish.
  void Open();

 private:
  const std::string path_;
};

}  // namespace pieces::testing

#endif  // PIECES_TESTS_TESTING_GATE_H_
