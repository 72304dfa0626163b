from django.urls import URLPattern, URLResolver, path

from apps.portal.views import account, deploy, devices, ips, project, settings, staff

app_name = "portal"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", account.dashboard, name="dashboard"),
    path("switch/", account.switch, name="switch"),
    path("staff/overview/", staff.overview, name="staff-overview"),
    path("projects/<uuid:pk>/", devices.project_devices, name="project"),
    path("projects/<uuid:pk>/deploy/", deploy.deploy, name="deploy"),
    path("projects/<uuid:pk>/devices/", deploy.deploy, name="device-order"),  # the first portal's order URL
    path("projects/<uuid:pk>/deploy/choices/", deploy.deploy_choices, name="deploy-choices"),
    path("projects/<uuid:pk>/ips/", ips.ips, name="ips"),
    path("projects/<uuid:pk>/ips/<int:block_pk>/", ips.ip_detail, name="ip"),
    path("projects/<uuid:pk>/ips/<int:block_pk>/release/", ips.ip_release, name="ip-release"),
    path("projects/<uuid:pk>/ssh-keys/", project.project_keys, name="project-keys"),
    path("projects/<uuid:pk>/members/", project.members, name="members"),
    path("projects/<uuid:pk>/members/invite/", project.member_invite, name="member-invite"),
    path("projects/<uuid:pk>/members/<int:membership_pk>/role/", project.member_role, name="member-role"),
    path("projects/<uuid:pk>/members/<int:membership_pk>/remove/", project.member_remove, name="member-remove"),
    path("projects/<uuid:pk>/invitations/<uuid:invitation_pk>/withdraw/", project.invitation_withdraw, name="invitation-withdraw"),
    path("projects/<uuid:pk>/events/", project.events, name="events"),
    path("projects/<uuid:pk>/usage/", project.usage, name="usage"),
    path("projects/<uuid:pk>/settings/", settings.project_settings, name="project-settings"),
    path("projects/<uuid:pk>/api-tokens/create/", settings.project_token_create, name="project-token-create"),
    path("projects/<uuid:pk>/api-tokens/<uuid:token_pk>/revoke/", settings.project_token_revoke, name="project-token-revoke"),
    path("devices/<uuid:pk>/", devices.device_detail, name="device"),
    path("devices/<uuid:pk>/live/", devices.device_live, name="device-live"),
    path("devices/<uuid:pk>/<str:action>/", devices.device_action, name="device-action"),
    path("invoices/<uuid:pk>/", account.invoice_detail, name="invoice"),
    path("invitations/<uuid:pk>/<str:answer>/", account.invitation_answer, name="invitation-answer"),
    path("ssh-keys/add/", account.ssh_key_add, name="ssh-key-add"),
    path("ssh-keys/<uuid:pk>/delete/", account.ssh_key_delete, name="ssh-key-delete"),
    path("api-tokens/create/", account.api_token_create, name="api-token-create"),
    path("api-tokens/<uuid:pk>/revoke/", account.api_token_revoke, name="api-token-revoke"),
]
