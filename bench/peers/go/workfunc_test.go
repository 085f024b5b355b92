package main

import "testing"

// The values work_service's own test (tests/work_service/work_function_test.cc)
// expects, so that cpu:N answers the same in both implementations.
func TestMixRoundsMatchesWorkService(t *testing.T) {
	for _, c := range []struct{ key, rounds, want uint64 }{
		{12345, 0, 12345},
		{0, 1, 0xe220a8397b1dcdaf},
		{0x9e3779b97f4a7c15, 1, 0x6e789e6aa1b965f4},
	} {
		if got := mixRounds(c.key, c.rounds); got != c.want {
			t.Errorf("mixRounds(%#x, %d) = %#x, want %#x", c.key, c.rounds, got, c.want)
		}
	}
}

func TestParseWork(t *testing.T) {
	for _, spec := range []string{"echo", "sleep:10ms", "cpu:1000"} {
		if _, err := parseWork(spec); err != nil {
			t.Errorf("parseWork(%q): %v", spec, err)
		}
	}
	for _, spec := range []string{"", "sleep", "sleep:-1s", "cpu:x", "fail"} {
		if _, err := parseWork(spec); err == nil {
			t.Errorf("parseWork(%q) accepted it", spec)
		}
	}
}
