package httpapi

import (
	"context"
	"html/template"
	"net/http"
	"net/url"

	"github.com/diststore/diststore/cluster"
)

// page is the node's HTML page. It works without JavaScript.
var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>diststore {{.Status.Addr}}</title>
<style>
body { font-family: sans-serif; max-width: 50em; margin: 2em auto; padding: 0 1em; }
table { border-collapse: collapse; } td, th { padding: .2em .8em; text-align: left; border-bottom: 1px solid #ddd; }
label { display: block; margin-top: .5em; }
input[name=key], textarea { width: 100%; box-sizing: border-box; }
tr.self td { font-weight: bold; }
.note { background: #e8f5e9; padding: .5em; }
.warn { background: #fff3e0; padding: .5em; }
</style>
</head>
<body>
<h1>diststore node {{.Status.Addr}}</h1>
{{if not .Status.Secure}}<p class="warn" id="insecure">This cluster runs without a cluster key: any host on the LAN can join it, and read, write and delete keys. See Security in the README.</p>{{end}}
{{with .Stored}}<p class="note" id="stored">Stored <code>{{.}}</code>.</p>{{end}}
{{with .Deleted}}<p class="note" id="deleted">Deleted <code>{{.}}</code>.</p>{{end}}
<h2>Store a value</h2>
<form method="post" action="/" id="store">
<label>Key <input name="key" id="key" required maxlength="250"></label>
<label>Value <textarea name="value" id="value" rows="4"></textarea></label>
<label>Expires after (optional, e.g. 30s, 1h) <input name="ttl" id="ttl" size="8"></label>
<button type="submit">Store</button>
</form>
<h2>Look up a key</h2>
<form method="get" action="/lookup" id="lookup">
<label>Key <input name="key" id="lookup-key" required maxlength="250"></label>
<button type="submit">Get</button>
</form>
<h2>Delete a key</h2>
<form method="post" action="/delete" id="delete">
<label>Key <input name="key" id="delete-key" required maxlength="250"></label>
<button type="submit">Delete</button>
</form>
<h2 id="keys-heading">Keys</h2>
<p>The keys this node holds{{if not .Status.IsMaster}} (a master holds every key){{end}}, in order, {{.Browse.Limit}} at a time.</p>
<form method="get" action="/#keys-heading" id="browse">
<label>Starting with <input name="prefix" id="browse-prefix" value="{{.Browse.Prefix}}" maxlength="250"></label>
<button type="submit">List keys</button>
</form>
{{with .Browse}}{{if .Err}}<p class="warn" id="browse-error">{{.Err}}</p>{{else}}
<ul id="keys">
{{range .Keys}}<li><a href="{{.Href}}">{{.Key}}</a></li>
{{else}}<li id="no-keys">No keys{{if .Prefix}} starting with <code>{{.Prefix}}</code>{{end}}{{if .After}} after <code>{{.After}}</code>{{end}}.</li>
{{end}}</ul>
{{if .Next}}<p><a id="keys-next" href="{{.Next}}">Next keys</a></p>{{end}}{{end}}{{end}}
<h2>Cluster</h2>
<p>Masters: {{range $i, $m := .Status.Masters}}{{if $i}}, {{end}}{{$m}}{{else}}not known yet{{end}} (epoch {{.Status.Epoch}}).
This node holds {{.Status.Keys}} key{{if ne .Status.Keys 1}}s{{end}} and {{.Status.Cached}} cached cop{{if eq .Status.Cached 1}}y{{else}}ies{{end}}{{if .Status.IsMaster}} and is a master{{if not .Status.Synced}} (syncing){{end}}{{end}}.</p>
<p>Reads: {{.Status.Local}} served locally, {{.Status.Remote}} fetched from the cluster, {{.Status.Misses}} not found.</p>
<table id="members">
<tr><th>Node</th><th>Keys</th><th>Role</th><th>Found by</th></tr>
{{range .Status.Members}}<tr{{if eq .Addr $.Status.Addr}} class="self"{{end}}><td>{{.Addr}}{{if eq .Addr $.Status.Addr}} (this node){{end}}</td><td>{{.Keys}}</td><td>{{if .Master}}master{{else if eq .Kind "original"}}original pydiststore{{if .Missing}} ({{.Missing}} not yet copied here){{end}}{{end}}</td><td>{{.Found}}</td></tr>
{{end}}</table>
{{with .Status.Migration}}<p id="migration">Original pydiststore nodes on the group: {{.Originals}}, holding {{.OriginalKeys}} keys.
{{if .Done}}Every master holds all of them: the original nodes can be stopped.{{else}}The masters are copying them{{with .Pending}}; not done yet on {{range $i, $m := .}}{{if $i}}, {{end}}{{$m}}{{end}}{{end}}.{{end}}</p>{{end}}
</body>
</html>
`))

func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	data := struct {
		Status  cluster.Status
		Stored  string
		Deleted string
		Browse  browse
	}{s.status(), q.Get("stored"), q.Get("deleted"), s.browse(r.Context(), q.Get("prefix"), q.Get("after"))}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := page.Execute(w, data); err != nil {
		s.log.Warn("render page", "err", err)
	}
}

// pageKeys is how many keys the page lists at once.
const pageKeys = 100

// browse is the page's list of keys: a page of keys with a prefix.
type browse struct {
	Prefix, After string
	Limit         int
	Keys          []browseKey
	Next          string // the link to the next page, "" on the last
	Err           string // why the keys could not be listed
}

// browseKey is one key of the page, with the link to its value.
type browseKey struct{ Key, Href string }

// browse lists a page of the keys this node holds that start with
// prefix, after the key after.
func (s *Server) browse(ctx context.Context, prefix, after string) browse {
	b := browse{Prefix: prefix, After: after, Limit: pageKeys}
	lq, err := parseListQuery(url.Values{"prefix": {prefix}, "after": {after}})
	if err != nil {
		b.Err = err.Error()
		return b
	}
	lq.Limit = pageKeys
	ctx, cancel := context.WithTimeout(ctx, s.opts.WriteTimeout)
	defer cancel()
	keys, next, err := s.listPage(ctx, lq)
	if err != nil {
		s.log.Warn("page: list keys", "err", err)
		b.Err = "the keys cannot be listed: see the node's log"
		return b
	}
	for _, k := range keys {
		b.Keys = append(b.Keys, browseKey{Key: k, Href: "/get/" + url.PathEscape(k)})
	}
	if next != "" {
		b.Next = "/?" + url.Values{"prefix": {prefix}, "after": {next}}.Encode() + "#keys-heading"
	}
	return b
}
