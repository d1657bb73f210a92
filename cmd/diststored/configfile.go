package main

import (
	"errors"
	"io/fs"

	"github.com/diststore/diststore/internal/nodecfg"
)

// openConfigFile reads the config file with nodecfg, the one reader of
// diststored.cfg that the client shares: explicit if it is not "" (it must
// exist), else the first of search that exists; with neither, it returns
// an empty file. keys are the keys allowed in [diststored]; any line the
// reader cannot take is an error naming path:line.
func openConfigFile(explicit string, search, keys []string) (nodecfg.File, error) {
	path, data, err := nodecfg.Open(explicit, search)
	if explicit != "" && errors.Is(err, fs.ErrNotExist) {
		return nodecfg.File{}, &settingError{Source: "--" + flagConfig, Value: explicit, Err: errors.New("no such file")}
	}
	if err != nil {
		return nodecfg.File{}, err
	}
	file, err := nodecfg.Parse(path, data, keys)
	if err != nil {
		return nodecfg.File{}, err
	}
	return file, nil
}
