"""Staff screens for tenancy. Every save goes through accounts.services (and so the audit log)."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.accounts import quotas, services
from apps.accounts.models import APIToken, Membership, Organization, Project, Quota, SSHKey
from apps.accounts.sshkeys import parse_public_key
from apps.audit.admin import AuditedAdmin


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)
    autocomplete_fields = ("user",)


@admin.register(Organization)
class OrganizationAdmin(AuditedAdmin):
    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug")
    readonly_fields = ("id", "created_at", "updated_at")
    inlines = [MembershipInline]

    def save_model(self, request: HttpRequest, obj: Organization, form: forms.ModelForm, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
        else:
            created = services.organization_create(name=obj.name, slug=obj.slug, actor=request.user)
            obj.pk = created.pk

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset: forms.BaseModelFormSet, change: bool) -> None:
        _save_membership_formset(request, formset, organization=form.instance)


@admin.register(Project)
class ProjectAdmin(AuditedAdmin):
    list_display = ("name", "organization", "created_at")
    list_filter = ("organization",)
    search_fields = ("name", "organization__name", "id")
    readonly_fields = ("id", "created_at", "updated_at")
    list_select_related = ("organization",)
    inlines = [MembershipInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Project | None = None) -> tuple[str, ...]:
        # A project does not move between organizations (project_update changes its name only).
        return (*self.readonly_fields, "organization") if obj else tuple(self.readonly_fields)

    def delete_model(self, request: HttpRequest, obj: Project) -> None:
        services.project_delete(project=obj, actor=request.user)

    def save_model(self, request: HttpRequest, obj: Project, form: forms.ModelForm, change: bool) -> None:
        if change:
            services.project_update(project=obj, name=obj.name, actor=request.user)
        else:
            created = services.project_create(organization=obj.organization, name=obj.name, actor=request.user)
            obj.pk = created.pk

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset: forms.BaseModelFormSet, change: bool) -> None:
        _save_membership_formset(request, formset, project=form.instance)


def _save_membership_formset(request: HttpRequest, formset: forms.BaseModelFormSet, **scope: object) -> None:
    for inline_form in formset.forms:
        if not inline_form.has_changed() and not inline_form.cleaned_data.get("DELETE"):
            continue
        instance = inline_form.instance
        if inline_form.cleaned_data.get("DELETE"):
            if instance.pk:
                services.membership_remove(membership=instance, actor=request.user)
            continue
        services.membership_set(user=inline_form.cleaned_data["user"], role=inline_form.cleaned_data["role"], actor=request.user, **scope)


@admin.register(Membership)
class MembershipAdmin(AuditedAdmin):
    list_display = ("user", "role", "organization", "project", "created_at")
    list_filter = ("role",)
    search_fields = ("user__username", "organization__name", "project__name")
    list_select_related = ("user", "organization", "project__organization")

    def has_change_permission(self, request: HttpRequest, obj: Membership | None = None) -> bool:
        # Memberships are edited on their organization's or project's page.
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        services.membership_remove(membership=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        for membership in queryset:
            services.membership_remove(membership=membership, actor=request.user)


class APITokenCreateForm(forms.ModelForm):
    class Meta:
        model = APIToken
        fields = ("user", "project", "description", "read_only")


@admin.register(APIToken)
class APITokenAdmin(AuditedAdmin):
    list_display = ("key_preview", "user", "project", "description", "read_only", "created_at", "last_used_at", "revoked_at")
    list_filter = ("read_only", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("key_preview", "user__username", "description")
    list_select_related = ("user", "project__organization")
    actions = ["revoke"]
    autocomplete_fields = ("user",)

    def get_form(self, request: HttpRequest, obj: APIToken | None = None, **kwargs: object) -> type[forms.ModelForm]:
        if obj is None:
            kwargs["form"] = APITokenCreateForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: APIToken | None = None) -> tuple[str, ...]:
        if obj is None:
            return ()
        return ("user", "project", "description", "read_only", "key_preview", "created_at", "last_used_at", "revoked_at")

    def has_change_permission(self, request: HttpRequest, obj: APIToken | None = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: APIToken | None = None) -> bool:
        return False  # revoke instead: the row is the record of what the token did

    def save_model(self, request: HttpRequest, obj: APIToken, form: forms.ModelForm, change: bool) -> None:
        token, plaintext = services.api_token_create(user=obj.user, project=obj.project, description=obj.description,
                                                     read_only=obj.read_only, actor=request.user)
        obj.pk = token.pk
        messages.warning(request, f"API token created: {plaintext} — copy it now, it is stored only as a hash and will not be shown again.")

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[APIToken]) -> None:
        for token in queryset:
            services.api_token_revoke(token=token, actor=request.user)
        self.message_user(request, f"Revoked {queryset.count()} token(s).")


class SSHKeyForm(forms.ModelForm):
    class Meta:
        model = SSHKey
        fields = ("label", "key", "owner", "project")

    def clean_key(self) -> str:
        try:
            return parse_public_key(self.cleaned_data["key"]).normalized
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["key"]) from exc


@admin.register(SSHKey)
class SSHKeyAdmin(AuditedAdmin):
    form = SSHKeyForm
    list_display = ("label", "fingerprint_sha256", "owner", "project", "created_at")
    search_fields = ("label", "fingerprint", "fingerprint_sha256", "owner__username", "project__name")
    readonly_fields = ("fingerprint", "fingerprint_sha256", "created_at", "updated_at")
    list_select_related = ("owner", "project__organization")

    def save_model(self, request: HttpRequest, obj: SSHKey, form: forms.ModelForm, change: bool) -> None:
        if change:
            services.ssh_key_update(ssh_key=obj, label=obj.label, key=obj.key, actor=request.user)
        else:
            created = services.ssh_key_create(label=obj.label, key=obj.key, owner=obj.owner, project=obj.project, actor=request.user)
            obj.pk = created.pk

    def delete_model(self, request: HttpRequest, obj: SSHKey) -> None:
        services.ssh_key_delete(ssh_key=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[SSHKey]) -> None:
        for key in queryset:
            services.ssh_key_delete(ssh_key=key, actor=request.user)


@admin.register(Quota)
class QuotaAdmin(AuditedAdmin):
    """Per-organization and per-project limits that replace the defaults of settings.QUOTA_DEFAULTS."""

    list_display = ("__str__", "resource", "limit", "in_use", "default", "updated_at")
    list_filter = ("resource",)
    search_fields = ("organization__name", "organization__slug", "project__name")
    autocomplete_fields = ("organization", "project")
    readonly_fields = ("updated_at",)

    @admin.display(description="in use now")
    def in_use(self, obj: Quota) -> int:
        return quotas.quota_usage(obj.resource, project=obj.project, organization=obj.organization)

    @admin.display(description="default (settings)")
    def default(self, obj: Quota) -> int:
        return quotas.quota_default(obj.resource, "project" if obj.project_id else "organization")

    def save_model(self, request: HttpRequest, obj: Quota, form: forms.ModelForm, change: bool) -> None:
        if change and Quota.objects.filter(pk=obj.pk).exclude(resource=obj.resource, organization=obj.organization_id,
                                                               project=obj.project_id).exists():
            # Moved to another subject or resource: the old override goes, the new one is set.
            quotas.quota_clear(quota=Quota.objects.get(pk=obj.pk), actor=request.user)
        saved = quotas.quota_set(resource=obj.resource, limit=obj.limit, organization=obj.organization, project=obj.project,
                                 actor=request.user)
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: Quota) -> None:
        quotas.quota_clear(quota=obj, actor=request.user)
