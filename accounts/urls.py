from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts import auditlog, views

urlpatterns = [
    # Three of Django's auth views, adapted: a logged-in user who opens the log-in page goes
    # to the dashboard, reset requests are throttled, and setting a new password lifts a
    # log-in lock-out.
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/password_reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "accounts/reset/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include((views.urlpatterns, "accounts"))),
    path("", include((auditlog.urlpatterns, "audit"))),
]
