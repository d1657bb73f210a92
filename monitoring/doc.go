// Package monitoring holds no code: this directory is the Grafana
// dashboard (diststore-dashboard.json) and the Prometheus alert rules
// (diststore-alerts.yml, with their promtool unit tests in
// diststore-alerts.test.yml) that an operator drops in, shipped in the
// Debian package under /usr/share/diststore/monitoring. Its tests check
// them: the dashboard's shape, that every metric either file names is one
// a node really exports (scraped from a real node), and promtool's check
// and unit tests of the rules.
package monitoring
