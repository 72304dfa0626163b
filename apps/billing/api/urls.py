from django.urls import path

from apps.billing.api import views

# Customers, Equinix Metal shapes, under /metal/v1/.
urlpatterns = [
    path("projects/<uuid:pk>/usages", views.ProjectUsageView.as_view(), name="project-usages"),
    path("devices/<uuid:pk>/usages", views.DeviceUsageView.as_view(), name="device-usages"),
    path("organizations/<uuid:pk>/invoices", views.OrganizationInvoiceListView.as_view(), name="organization-invoices"),
    path("invoices/<uuid:pk>", views.InvoiceDetailView.as_view(), name="invoice"),
]

# Staff only, under /api/.
staff_urlpatterns = [
    path("billing/usage-export", views.UsageExportView.as_view(), name="billing-usage-export"),
]
