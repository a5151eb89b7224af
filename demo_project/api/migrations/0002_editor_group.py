"""The demo's ``editor`` group: it may view and add messages (GROUPS_CLAIM puts users with the role in it)."""

from django.db import migrations

EDITOR_PERMISSIONS = {"view_message": "Can view message", "add_message": "Can add message"}


def create_editor_group(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    # Permissions are normally created after migrate (post_migrate); made here with the same
    # codenames, so that the group can hold them now and post_migrate finds them in place.
    content_type, _ = ContentType.objects.get_or_create(app_label="demo_api", model="message")
    group, _ = Group.objects.get_or_create(name="editor")
    for codename, name in EDITOR_PERMISSIONS.items():
        permission, _ = Permission.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
        group.permissions.add(permission)


def remove_editor_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="editor").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("demo_api", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_editor_group, remove_editor_group)]
