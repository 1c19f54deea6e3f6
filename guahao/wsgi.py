import gc
import io
import os
from collections.abc import Callable, Iterable

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guahao.settings")
_django = get_wsgi_application()


def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
    """Django's application, given a body sent in chunks (``Transfer-Encoding: chunked``, no
    ``Content-Length``: a phone's HTTP library streaming a body it did not measure). Django reads
    a body by its length alone, so it saw none and refused the fields as missing. The server hands
    the body over whole (the chunks undone); it is read here and kept up to Django's limit. Past
    the limit it is counted, not kept, so the refusal names its size, as for a body sent with its
    length."""
    if not environ.get("CONTENT_LENGTH") and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        from django.conf import settings

        stream = environ["wsgi.input"]
        body = stream.read(settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
        size = len(body)
        if size > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            while size < MOST_COUNTED and (more := len(stream.read(1 << 16))):
                size += more
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(size)
    return _django(environ, start_response)


MOST_COUNTED = 1 << 26  # a chunked body's size is counted up to 64 MiB; past that it is refused as it is


def _freeze() -> None:
    """Load the URLconf (every view and schema it pulls in) and set what is loaded by now aside
    from the garbage collector: those objects live as long as the process. Otherwise its full
    collections walk them all, some 340,000, stopping every thread of the process for about
    0.1 s; one fell in each web process during a release-time crowd, and every answer queued
    behind it waited that much longer."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018  (imports the URLconf)
    gc.collect()
    gc.freeze()


_freeze()
