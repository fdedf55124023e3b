"""The smallest WSGI app gunicorn can serve: a fixed page with a Content-Length."""

BODY = b"<p>hello from gunicorn</p>\n"


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(BODY)))])
    return [BODY]
