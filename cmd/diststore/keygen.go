package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/diststore/diststore/clusterkey"
)

// keygenCommand prints a new cluster key. It talks to no node.
func keygenCommand(sys system) *cli.Command {
	return &cli.Command{
		Name:  "keygen",
		Usage: "print a new random cluster key (a line for diststored's --cluster-key-file)",
		Description: "Prints 32 random bytes in base64: a line of the file diststored's\n" +
			"--cluster-key-file names (mode 600, owned by the user diststored runs as), the\n" +
			"same on every node. To rotate a key, see Security in the README. It also makes\n" +
			"a good client token.",
		ArgsUsage:    " ",
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			if _, err := needArgs(c); err != nil {
				return err
			}
			_, err := fmt.Fprintln(sys.stdout, clusterkey.NewKey())
			return err
		},
	}
}
