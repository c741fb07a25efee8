//go:build !race

package excdtest

// RaceEnabled: see race.go.
const RaceEnabled = false
