from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = "Accounts and tenancy"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_login_failed
        from django.core import checks

        from apps.accounts.throttling import check_shared_throttle_counts, login_failed, login_succeeded

        user_login_failed.connect(login_failed, dispatch_uid="metalyard.login_failed")
        user_logged_in.connect(login_succeeded, dispatch_uid="metalyard.login_succeeded")
        checks.register(check_shared_throttle_counts, checks.Tags.security, deploy=True)
