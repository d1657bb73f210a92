package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// versionCommand prints the CLI's version.
func versionCommand(sys system) *cli.Command {
	return &cli.Command{
		Name:         "version",
		Usage:        "print the version of diststore",
		ArgsUsage:    " ",
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			if _, err := needArgs(c); err != nil {
				return err
			}
			_, err := fmt.Fprintf(sys.stdout, "diststore %s\n", version)
			return err
		},
	}
}
