//go:build !unix

package loadbench

import "time"

// processCPU is unknown here: the figure stays 0.
func processCPU() time.Duration { return 0 }
