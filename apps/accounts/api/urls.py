from django.urls import path

from apps.accounts.api import members, views

urlpatterns = [
    path("user", views.CurrentUserView.as_view(), name="user"),
    path("users/<uuid:pk>", views.UserDetailView.as_view(), name="user-detail"),
    path("user/api-keys", views.APIKeyListView.as_view(), name="user-api-keys"),
    path("user/api-keys/<uuid:pk>", views.APIKeyDetailView.as_view(), name="user-api-key"),
    path("api-keys/<uuid:pk>", views.APIKeyDetailView.as_view(), name="api-key"),
    path("invitations", members.UserInvitationListView.as_view(), name="user-invitations"),
    path("invitations/<uuid:pk>", members.InvitationDetailView.as_view(), name="invitation"),
    path("memberships/<uuid:pk>", members.MembershipDetailView.as_view(), name="membership"),
    path("organizations", views.OrganizationListView.as_view(), name="organizations"),
    path("organizations/<uuid:pk>", views.OrganizationDetailView.as_view(), name="organization"),
    path("organizations/<uuid:org_pk>/projects", views.ProjectListView.as_view(), name="organization-projects"),
    path("organizations/<uuid:pk>/invitations", members.OrganizationInvitationListView.as_view(), name="organization-invitations"),
    path("projects", views.ProjectListView.as_view(), name="projects"),
    path("projects/<uuid:pk>", views.ProjectDetailView.as_view(), name="project"),
    path("projects/<uuid:pk>/memberships", members.ProjectMembershipListView.as_view(), name="project-memberships"),
    path("projects/<uuid:pk>/invitations", members.ProjectInvitationListView.as_view(), name="project-invitations"),
    path("projects/<uuid:project_pk>/ssh-keys", views.SSHKeyListView.as_view(), name="project-ssh-keys"),
    path("projects/<uuid:project_pk>/api-keys", views.APIKeyListView.as_view(), name="project-api-keys"),
    path("ssh-keys", views.SSHKeyListView.as_view(), name="ssh-keys"),
    path("ssh-keys/<uuid:pk>", views.SSHKeyDetailView.as_view(), name="ssh-key"),
]
