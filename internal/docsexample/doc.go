// Package docsexample reads the shell examples of the project's Markdown
// files and checks what they did, so that the documentation's examples run
// as tests: the integration docs test runs most of them against a cluster
// of three, the Debian package test runs those that need the installed
// package.
//
// Every ```sh block of Files is an example. Each command of a block (a
// line, with its backslash continuations) runs in turn, with set -e
// semantics per line: the block stops at the first command whose exit
// status is not the one expected. A command's expectations are in its
// trailing comment:
//
//	diststore get greeting         # → hello
//	diststore get no-such-key      # exit 1
//	curl -X POST … /greeting       # → stored on …
//
// "exit N" at the start of the comment: the exit status (default 0).
// "→ TEXT" anywhere in it: standard output, with the surrounding white
// space trimmed, is TEXT, where each "…" stands for any text. Any other
// comment is prose and expects nothing but exit status 0.
//
// The line before a block's fence may mark it:
//
//	<!-- docs-test: not run: needs three hosts -->
//	<!-- docs-test: package -->
//
// "not run: REASON": the block runs nowhere, for the reason given.
// "package": the block needs the installed Debian package (and root); the
// package test runs it, after the install, with supervisord running the
// node, and fails if it did not. A marker without a reason, an unknown
// marker, or a shell block fenced as bash, shell or console (not sh) is a
// Problem of the block, so every shell block either runs or says why not.
package docsexample
