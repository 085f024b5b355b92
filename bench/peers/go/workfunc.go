package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// workFunc computes the value of a key. It may sleep or burn CPU and is
// called from many goroutines at once.
type workFunc func(key uint64) (uint64, error)

// parseWork makes the work function named by spec, as work_service's --work
// flag does (work_service/work_function.h): echo, sleep:DURATION, cpu:N.
func parseWork(spec string) (workFunc, error) {
	kind, arg, _ := strings.Cut(spec, ":")
	switch {
	case spec == "echo":
		return func(key uint64) (uint64, error) { return key, nil }, nil
	case kind == "sleep":
		d, err := time.ParseDuration(arg)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("--work=%s: %q is not a non-negative duration such as 100ms or 1.5s", spec, arg)
		}
		return func(key uint64) (uint64, error) {
			time.Sleep(d)
			return key, nil
		}, nil
	case kind == "cpu":
		rounds, err := strconv.ParseUint(arg, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("--work=%s: %q is not a whole number of rounds", spec, arg)
		}
		return func(key uint64) (uint64, error) { return mixRounds(key, rounds), nil }, nil
	}
	return nil, fmt.Errorf("--work=%s is not a known work function; expected one of: echo, sleep:DURATION (e.g. sleep:100ms), cpu:N", spec)
}

// mixRounds is work_service's MixRounds: rounds of the splitmix64 step, so
// that cpu:N gives the same values in both implementations.
func mixRounds(x, rounds uint64) uint64 {
	for i := uint64(0); i < rounds; i++ {
		x += 0x9e3779b97f4a7c15
		x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
		x = (x ^ (x >> 27)) * 0x94d049bb133111eb
		x ^= x >> 31
	}
	return x
}
