//go:build race

package excdtest

// RaceEnabled: the test binary runs under the race detector, so the excd it
// starts is built with -race too, and a load or crash test then checks the
// whole daemon for races. Memory and speed figures mean nothing then.
const RaceEnabled = true
