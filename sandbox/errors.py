"""Error responses in the Fastify shape the real API most likely uses:
`{"statusCode": 400, "error": "Bad Request", "message": "..."}` (contract section 6, [I])."""

from http import HTTPStatus

from django.http import JsonResponse


class ApiError(Exception):
    """Raised anywhere inside an API view; becomes a JSON error response."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def error_response(
    status: int, message: str, *, headers: dict[str, str] | None = None
) -> JsonResponse:
    response = JsonResponse(
        {"statusCode": status, "error": reason(status), "message": message}, status=status
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)
