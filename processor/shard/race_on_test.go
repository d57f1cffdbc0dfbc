//go:build race

package shard

// raceEnabled: the race detector slows the engine ~15x; the longest tests
// run a smaller stream under it (the full one runs without -race).
const raceEnabled = true
