// Command diststored runs one diststore node: it joins the cluster on the
// LAN by multicast, serves the HTTP API and holds keys. See the README for
// its flags and configuration file.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newApp().Run(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "diststored: %v\n", err)
		os.Exit(1)
	}
}
