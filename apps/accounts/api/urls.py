from django.urls import path

from apps.accounts.api import views

urlpatterns = [
    path("user", views.CurrentUserView.as_view(), name="user"),
    path("user/api-keys", views.APIKeyListView.as_view(), name="user-api-keys"),
    path("user/api-keys/<uuid:pk>", views.APIKeyDetailView.as_view(), name="user-api-key"),
    path("api-keys/<uuid:pk>", views.APIKeyDetailView.as_view(), name="api-key"),
    path("organizations", views.OrganizationListView.as_view(), name="organizations"),
    path("organizations/<uuid:pk>", views.OrganizationDetailView.as_view(), name="organization"),
    path("organizations/<uuid:org_pk>/projects", views.ProjectListView.as_view(), name="organization-projects"),
    path("projects", views.ProjectListView.as_view(), name="projects"),
    path("projects/<uuid:pk>", views.ProjectDetailView.as_view(), name="project"),
    path("projects/<uuid:project_pk>/ssh-keys", views.SSHKeyListView.as_view(), name="project-ssh-keys"),
    path("projects/<uuid:project_pk>/api-keys", views.APIKeyListView.as_view(), name="project-api-keys"),
    path("ssh-keys", views.SSHKeyListView.as_view(), name="ssh-keys"),
    path("ssh-keys/<uuid:pk>", views.SSHKeyDetailView.as_view(), name="ssh-key"),
]
