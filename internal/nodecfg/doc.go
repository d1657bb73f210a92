// Package nodecfg owns what diststored and its clients share about a
// node's configuration, so that the client finds the node exactly where
// the node put itself:
//
//   - the defaults of the settings both read (bind, HTTP port) and of the
//     multicast group, the environment variables and the file keys;
//   - the one reader of diststored.cfg: where it is looked for (Open) and
//     its INI dialect (Parse);
//   - resolving a bind address or go-sockaddr template and parsing a port;
//   - the client's search for its node (Finder): --node, DISTSTORE_NODE,
//     else the local node from the environment and the file.
//
// It is for commands only: libraries such as package cluster get a finished
// Config and never read files or the environment.
package nodecfg
