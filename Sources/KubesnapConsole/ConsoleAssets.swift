import Foundation

/// The console's pages: one HTML shell for every page (the script draws it), the sign-in and
/// message pages, and the embedded script and sheet. No inline script or style anywhere, so the
/// Content-Security-Policy needs no `unsafe-inline`.
enum ConsoleAssets {
    static func reply(for path: String) -> ConsoleReply {
        let name = String(path.dropFirst("/assets/".count))
        guard let text = EmbeddedAssets.files.first(where: { $0.name == name })?.text else { return .html(404, messagePage("not found")) }
        let type = name.hasSuffix(".js") ? "text/javascript; charset=utf-8" : name.hasSuffix(".css") ? "text/css; charset=utf-8" : "text/plain; charset=utf-8"
        return .full(status: 200, headers: [("Content-Type", type)], body: Array(text.utf8))
    }

    /// HTML-escapes text for an element or a quoted attribute.
    static func escapeHTML(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    static func page(title: String, body: String, head: String = "") -> String {
        """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escapeHTML(title))</title>
        <link rel="stylesheet" href="/assets/console.css">
        \(head)
        </head>
        <body>
        <header class="top"><a class="brand" href="/"><span class="logo" aria-hidden="true"></span>kubesnap</a><nav id="nav" aria-label="Kinds"></nav></header>
        \(body)
        </body>
        </html>
        """
    }

    /// Every page of a signed-in user: the script fills `main`.
    static func shell(csrf: String) -> String {
        page(
            title: "kubesnap console",
            body: """
                <div id="messages" aria-live="assertive"></div>
                <main id="main"><p class="muted">Loading…</p></main>
                <script src="/assets/console.js"></script>
                """,
            head: #"<meta name="csrf-token" content="\#(escapeHTML(csrf))">"#)
    }

    static let signInPage = page(
        title: "Sign in: kubesnap console",
        body: """
            <main><div class="page-message"><h1>Sign in</h1>
            <p>This console acts with the credentials of the kubeconfig it was started with. Open the URL that
            <code>kubesnap console</code> (or <code>kubesnap dev</code>) printed when it started: it carries a
            one-time login token and gives this browser a session.</p></div></main>
            """)

    static func messagePage(_ text: String) -> String {
        page(title: "kubesnap console", body: #"<main><div class="page-message"><p class="alert error">\#(escapeHTML(text))</p></div></main>"#)
    }
}
