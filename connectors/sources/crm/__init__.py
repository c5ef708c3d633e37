"""CRM source: contacts from a HubSpot-style REST API (`/crm/v3/contacts`)."""

from connectors.sources.crm.contacts import CrmContacts, streams

__all__ = ["CrmContacts", "streams"]
