// Package debian holds diststore's Debian packaging: build-deb.sh builds
// the package, test-install.sh checks it on this machine. Its Go test
// (deb_test.go) installs and purges the package, so it is built only with
// -tags debpackage, as make test and make test-deb build it.
package debian
