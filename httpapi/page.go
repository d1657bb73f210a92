package httpapi

import (
	"html/template"
	"net/http"

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
<h2>Cluster</h2>
<p>Masters: {{range $i, $m := .Status.Masters}}{{if $i}}, {{end}}{{$m}}{{else}}not known yet{{end}} (epoch {{.Status.Epoch}}).
This node holds {{.Status.Keys}} key{{if ne .Status.Keys 1}}s{{end}} and {{.Status.Cached}} cached cop{{if eq .Status.Cached 1}}y{{else}}ies{{end}}{{if .Status.IsMaster}} and is a master{{if not .Status.Synced}} (syncing){{end}}{{end}}.</p>
<p>Reads: {{.Status.Local}} served locally, {{.Status.Remote}} fetched from the cluster, {{.Status.Misses}} not found.</p>
<table id="members">
<tr><th>Node</th><th>Keys</th><th>Role</th></tr>
{{range .Status.Members}}<tr{{if eq .Addr $.Status.Addr}} class="self"{{end}}><td>{{.Addr}}{{if eq .Addr $.Status.Addr}} (this node){{end}}</td><td>{{.Keys}}</td><td>{{if .Master}}master{{else if eq .Kind "original"}}original pydiststore{{if .Missing}} ({{.Missing}} not yet copied here){{end}}{{end}}</td></tr>
{{end}}</table>
{{with .Status.Migration}}<p id="migration">Original pydiststore nodes on the group: {{.Originals}}, holding {{.OriginalKeys}} keys.
{{if .Done}}Every master holds all of them: the original nodes can be stopped.{{else}}The masters are copying them{{with .Pending}}; not done yet on {{range $i, $m := .}}{{if $i}}, {{end}}{{$m}}{{end}}{{end}}.{{end}}</p>{{end}}
</body>
</html>
`))

func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request) {
	data := struct {
		Status  cluster.Status
		Stored  string
		Deleted string
	}{s.status(), r.URL.Query().Get("stored"), r.URL.Query().Get("deleted")}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := page.Execute(w, data); err != nil {
		s.log.Warn("render page", "err", err)
	}
}
